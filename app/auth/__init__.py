"""Scoped API keys: who is asking, and which knowledge bases they may read and write.

``keys`` makes and checks keys (the secret shown once, stored as a digest); ``store``
keeps them where every worker sees them (a file, or Redis); ``principal`` is who a
request acts as; ``access`` resolves it once per request and holds the one check;
``dependencies`` are what routes declare.
"""

"""The processes the service runs beside itself: the model engine and the Chroma server.

``child_server`` starts a server as a child process and waits until it answers;
``llama_server`` runs llama.cpp's ``llama-server`` on ``model_file``'s converted GGUF;
``chroma_server`` runs ``chroma run`` for several workers to share. Nothing here
handles a request.
"""

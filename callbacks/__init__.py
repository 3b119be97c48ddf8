"""The async callback handler that turns chain callbacks into typed events on a bounded queue."""

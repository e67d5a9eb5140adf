"""A one-item mailbox between a fast producer and a slow consumer: newest wins, never a queue."""

import threading


class LatestSlot:
    """
    Hold at most one item; putting a new one replaces (drops) an item nobody took yet.

    The subscription callback puts frames, the inference thread takes them: a slow model drops
    frames instead of building a backlog, and memory stays bounded by one frame.
    """

    def __init__(self):
        """Start empty and open."""
        self._condition = threading.Condition()
        self._item = None
        self._closed = False
        self.dropped = 0
        """How many items were replaced before anyone took them."""

    def put(self, item):
        """Offer ``item``; return True when it replaced an item that was never taken."""
        with self._condition:
            replaced = self._item is not None
            if replaced:
                self.dropped += 1
            self._item = item
            self._condition.notify()
            return replaced

    def take(self, timeout=None):
        """Wait for an item and remove it; None when closed or after ``timeout`` seconds."""
        with self._condition:
            self._condition.wait_for(lambda: self._item is not None or self._closed, timeout)
            if self._closed:
                return None
            item, self._item = self._item, None
            return item

    def close(self):
        """Wake the consumer for good; later takes return None."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()

"""What an upload tells the code that started it, while it runs: one subscriber object, as
s3transfer hands its subscribers to a transfer, instead of a callback per kind of event.

The upload code (remote, singleput, multipart) calls these; the executor and the live
sender subclass TransferEvents with what they need to hear. The defaults hear nothing and
check nothing, so a caller overrides only what it uses.
"""

from __future__ import annotations


class TransferEvents:
    def sent(self, n: int) -> None:
        """`n` bytes went on the wire for the first time (a resend after a rewind is not
        counted again; n may be 0). May raise to stop the transfer: the exception comes
        out of upload() as itself."""

    def multipart(self, upload_id: str, started: bool) -> None:
        """A multipart upload began (started=True) or ended, completed or aborted (False):
        the caller keeps the ids it may resume or must clean up. An id beginning with
        models.CREATING is an intent recorded before the create call."""

    def check_unchanged(self) -> None:
        """Raise FileChanged if the file is no longer the one planned. Called after the
        bytes are read and before the object is published, so a changed file never
        leaves an object under its key."""


NO_EVENTS = TransferEvents()

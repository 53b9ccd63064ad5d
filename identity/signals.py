"""Signals other code can subscribe to without the core knowing about it.

`user_signed_in` is sent by `complete_login` after a method proved who the user is and before
the transaction commits, so a receiver's writes (for example linking an upstream identity
once the user proved the local account) commit with the sign-in, or not at all.

`email_proven` is sent by `users.prove_email` when a method has just proven that the user
controls their email address (a magic link followed), also before the commit: whatever relied
on a claim about the address that nobody proved is undone with it (C22).
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: sender: the Flask app; kwargs: user (User), pending (PendingLoginRequest), method (str)
user_signed_in = _signals.signal("user-signed-in")

#: sender: the Flask app; kwargs: user (User), method (str)
email_proven = _signals.signal("email-proven")

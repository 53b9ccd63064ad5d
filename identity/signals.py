"""Signals other code can subscribe to without the core knowing about it.

`user_signed_in` is sent by `complete_login` after a method proved who the user is and before
the transaction commits, so a receiver's writes (for example linking an upstream identity
once the user proved the local account) commit with the sign-in, or not at all.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: sender: the Flask app; kwargs: user (User), pending (PendingLoginRequest), method (str)
user_signed_in = _signals.signal("user-signed-in")

"""Sign in with a one-time code from an administrator (docs/writing-a-login-method.md).

Enable it with `LOGIN_METHODS="password,examples.admin_code:AdminCodeMethod"`.
"""

from examples.admin_code.method import AdminCodeMethod

__all__ = ["AdminCodeMethod"]

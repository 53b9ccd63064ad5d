"""Login methods that live outside the core packages and are enabled only by configuration.

Each is written the way a team would write its own method in its own repository, using only
the API any plugin can use; docs/writing-a-login-method.md builds `admin_code` step by step.
"""

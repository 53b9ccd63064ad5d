"""Login methods that live outside the core packages, enabled only by configuration."""

"""Login methods: each one a plugin that ends in identity.completion.complete_login()."""

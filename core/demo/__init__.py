"""The offline demo provider: models that need no key and no network (`models`) and the pictures they draw
and measure (`drawing`); `replies` holds what scripted roles share (each scenario declares its own)."""

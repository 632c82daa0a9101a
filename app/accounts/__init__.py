"""Staff accounts: passwords, TOTP, and the commands that manage them."""

"""The pages end users reach from the links in optional messages: the preference center and
one-click unsubscribe. No account and no cookie: the signed token in the URL is the credential."""

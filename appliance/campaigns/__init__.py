"""Campaigns: one message to an audience, fanned out in resumable batches, optionally A/B tested.

Pure decisions (which variant a recipient gets, which state a campaign may move to) live in
their own modules, apart from the code that reads and writes the database.
"""

"""The in-app inbox: messages the `inbox` provider stores per recipient, read by the recipients
themselves (with a token their app's backend signs) and pushed to them as they arrive.

tokens  the recipient token: HMAC-SHA256 of the recipient id
store   the inbox table: add a message, page through it, count, change read/seen/archived state
feed    the doorbell that wakes a recipient's open streams (in-process; Redis in `redis_feed`)
stream  what a real-time stream sends: missed messages by id, then counts, then whatever comes
"""

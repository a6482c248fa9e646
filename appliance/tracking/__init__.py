"""Open and click tracking: signed pixel and redirect links written into HTML emails at render
time, and the events they record when a recipient (or a machine on their behalf) follows them."""

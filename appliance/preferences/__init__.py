"""What end users chose to receive, and the rules that decide whether a delivery goes out now.

Pure parts (choices, quiet hours, frequency caps, verdicts) decide; the database parts
(ledger, caps slots) read and record. The planner and the courier both ask the same verdicts,
so a choice made between planning and sending is honoured.
"""

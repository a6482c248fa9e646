"""Scheduling: jobs that must run at a given time, once, whichever replica is up then.

- `leadership`  the database lock that makes exactly one `clarion serve` the one running jobs
- `scheduler`   `Scheduler`: APScheduler over the shared `apscheduler_jobs` table
- `executor`    runs a due job's coroutine on the application's event loop
- `context`     what a running job may use (database, dispatcher, catalog)
- `jobs`        the job functions Clarion schedules, and how the API schedules them
"""

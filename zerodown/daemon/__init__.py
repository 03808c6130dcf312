"""The controller daemon: one long-running process per service state dir that owns every
deployment from creation to its end, and serves the HTTP API (zerodown/api/).

    main.py        the process: its lock, its threads, its sockets, a clean stop
    runs.py        runs the service's active deployment, whoever asked for it
    watchdog.py    deadlines: progress_deadline, a manual pause's timeout
    host_watch.py  a fleet host a deployment paused for answers again
    tls_watch.py   renewed certificate files handed to the running load balancer
    observer.py    what the API reads: the status document, metrics, new events
    actions.py     what the API does: deploy, pause, resume, promote, abort, rollback
    process.py     the CLI's side: is it running, start it, stop it
"""

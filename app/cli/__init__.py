"""What the commands share: the environment they start in, logging, one-line errors, and the data flags.

`environment` sets the backend and TensorFlow's logging before anything imports Keras (a command imports it
first); `shared` the logging format, the one-line exit on a `UserError` and the flags every command takes;
`data` which Retail Rocket build the data flags name, and loading it.

May import: `app.errors`, `datasets`. Only commands (`app/<command>.py`, `tuning/search.py`) import this package.
"""

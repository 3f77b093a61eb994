"""The one exception type for mistakes a user can fix (bad config, bad data).

Entry points catch it and print its message alone, without a traceback.
"""


class CnnlabError(Exception):
    """A problem with the user's input, with a message that says what to do."""

"""A handler in the SDK's shape, loaded by file path (PERSISTENCE_HANDLER_CLASS_PATH)."""

import copy

STORE = {}


class SDKStyleHandler:
    def save_oauth_tokens(self, tokens):
        STORE[tokens.user_identifier] = copy.deepcopy(tokens)

    def get_oauth_tokens(self, user_identifier):
        tokens = STORE.get(user_identifier)
        return copy.deepcopy(tokens) if tokens is not None else None

    def delete_oauth_tokens(self, user_identifier):
        STORE.pop(user_identifier, None)

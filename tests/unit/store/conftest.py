from store_fixtures import shared_store, store

__all__ = ["shared_store", "store"]

from registry_fixtures import mlflow_server, name, registry, sqlite_registry

__all__ = ["mlflow_server", "name", "registry", "sqlite_registry"]

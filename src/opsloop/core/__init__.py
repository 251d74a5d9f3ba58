"""Shared value types, the lowest layer above `opsloop.config` and `opsloop.errors`:
profiles and their sketches (`profile`, `sketch`), the multivariate transform (`transform`),
a monitor result's digest (`digest`) and the registry alias names (`aliases`). Engines, the
store, the monitor and the gate import them downward; nothing here imports another opsloop
package but `opsloop.errors`."""

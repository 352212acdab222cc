# Type stubs of the extension module (python/src/lib.rs). Records cross as JSON text.
from os import PathLike
from typing import Optional, Sequence, Union

__version__: str

def main(argv: Sequence[str]) -> int: ...
def get(model_id: str, db: Optional[Union[str, PathLike[str]]] = None) -> Optional[str]: ...
def resolve(
    model_id: str,
    revision: Optional[str] = None,
    token: Optional[str] = None,
    endpoint: Optional[str] = None,
    allow_download: bool = False,
    strategies: Optional[Sequence[str]] = None,
) -> str: ...
def update(
    repo: Optional[str] = None,
    revision: Optional[str] = None,
    token: Optional[str] = None,
    endpoint: Optional[str] = None,
) -> str: ...
def estimate_file(path: Union[str, PathLike[str]]) -> str: ...
def estimate_config(config: str, origin: str) -> str: ...

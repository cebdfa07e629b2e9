"""The atomic save that the project's kedro-datasets subclasses share."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from kedro.io import DatasetError
from kedro.io.core import get_filepath_str

from crl_pipelines.atomic_writes import write_atomically


class AtomicSave:
    """Mixed into a kedro-datasets file dataset (fsspec ``_fs``, ``_fs_open_args_save``): its
    save writes through its own file system and open arguments, as the original does, but into
    the temporary file of :func:`write_atomically` (local files only)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Kedro wraps each dataset class's __init__ to record its arguments (catalog.to_config);
        # give it the original's signature, not the parent's wrapper's (*args, **kwargs).
        cls.__init__ = inspect.unwrap(cls.__init__)
        super().__init_subclass__(**kwargs)

    def _save_atomically(self, dump: Callable[[IO[Any]], object]) -> None:
        """Save as the original does, ``dump`` into the file opened for saving, atomically."""
        if self._protocol != "file":
            raise DatasetError(
                f"{type(self).__name__} saves local files only, not {self._protocol}:// ones"
            )
        target = Path(get_filepath_str(self._get_save_path(), self._protocol))

        def write(temporary: Path) -> None:
            with self._fs.open(str(temporary), **self._fs_open_args_save) as file:
                dump(file)

        write_atomically(target, write)
        self._invalidate_cache()

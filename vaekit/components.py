"""The built-in components. Importing this module registers every built-in model, likelihood,
prior, network and data set with `vaekit.registry` (each registers itself with a decorator when
its module is imported), so a lookup by name finds them all.

The registry itself imports no component (the components import it); the modules that look
components up by name (config parsing, `build_model`, `load_run`, data loading) import this one,
or the package they need.
"""

import vaekit.data  # noqa: F401
import vaekit.distributions  # noqa: F401
import vaekit.models  # noqa: F401
import vaekit.nn  # noqa: F401

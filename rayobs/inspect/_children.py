"""What pickling an object pickles next: its children, each with an access path.

The children mirror what cloudpickle serializes, so the inspector looks
exactly where a pickling failure can come from:

- a function pickled by value ships its closure cells, the globals its code
  (and nested code) names, its defaults, keyword defaults and ``__dict__``;
- a class pickled by value ships its bases and its own ``__dict__``;
- an instance ships its class and whatever ``__reduce_ex__`` returns: by
  default ``__dict__`` and ``__slots__`` values, else the result of a custom
  ``__getstate__``/``__reduce__``;
- containers ship their items (dict keys too).

Paths are Python expressions that evaluate to the child (closure cells, named
by their free variable as ``f.__closure__[name]``, are the one exception).
"""

from __future__ import annotations

import dis
import functools
import keyword
import math
import re
import types
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from typing import Any

Child = tuple[object, str]

# cloudpickle's default protocol, and the one Ray uses.
PROTOCOL = 5

# Objects that always pickle: never probed, never listed as children.
ATOMIC = frozenset({type(None), bool, int, float, complex, str, bytes, range, type(Ellipsis)})
_GLOBAL_OPS = frozenset({"LOAD_GLOBAL", "STORE_GLOBAL", "DELETE_GLOBAL"})
_OBJECT_GETSTATE = getattr(object, "__getstate__", None)  # Python >= 3.11
_SIMPLE_KEYS = (str, int, float, bool, bytes, type(None))
# Class attributes cloudpickle does not ship, or that cannot fail.
_SKIPPED_CLASS_ATTRS = frozenset(
    {"__dict__", "__weakref__", "__module__", "__qualname__", "__doc__", "__slots__", "_abc_impl"}
)
_SLOT_DESCRIPTORS = (types.MemberDescriptorType, types.GetSetDescriptorType)


def code_global_names(code: types.CodeType) -> list[str]:
    """Global names a code object (or any code nested in it) reads, writes or deletes.

    This is the set cloudpickle ships with a function pickled by value; names
    that appear only as attributes (``pool.map``) are not globals.

    >>> def f():
    ...     return len(CONFIG)
    >>> code_global_names(f.__code__)
    ['len', 'CONFIG']
    """
    names: dict[str, None] = {}
    for instruction in dis.get_instructions(code):
        if instruction.opname in _GLOBAL_OPS:
            names[instruction.argval] = None
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names.update(dict.fromkeys(code_global_names(const)))
    return list(names)


def attribute_path(path: str, name: str) -> str:
    """``path.name`` when ``name`` is an identifier, else ``vars(path)['name']``."""
    if name.isidentifier() and not keyword.iskeyword(name):
        return f"{path}.{name}"
    return f"vars({path})[{name!r}]"


def _key_repr(key: object) -> str | None:
    """``repr(key)`` when it is a literal that evaluates back to ``key``."""
    if isinstance(key, float) and not math.isfinite(key):  # repr: nan, inf
        return None
    if type(key) in _SIMPLE_KEYS:
        return repr(key)
    if type(key) is tuple:
        parts = [_key_repr(part) for part in key]
        if all(part is not None for part in parts):
            return repr(key)
    return None


def _mapping_children(mapping: Any, path: str) -> Iterator[Child]:
    for index, (key, value) in enumerate(mapping.items()):
        if type(value) in ATOMIC and type(key) in ATOMIC:
            continue  # skipped before formatting a path: wide tables stay cheap
        literal = _key_repr(key)
        if literal is None:
            key_path = f"list({path})[{index}]"
            yield key, key_path
            yield value, f"{path}[{key_path}]"
        else:
            yield value, f"{path}[{literal}]"


def _sequence_children(sequence: Any, path: str) -> Iterator[Child]:
    for index, item in enumerate(sequence):
        if type(item) not in ATOMIC:
            yield item, f"{path}[{index}]"


def _set_children(items: Any, path: str) -> Iterator[Child]:
    for index, item in enumerate(items):
        if type(item) not in ATOMIC:
            yield item, f"list({path})[{index}]"


def _instance_dict_children(obj: object, path: str) -> Iterator[Child]:
    state = getattr(obj, "__dict__", None)
    if isinstance(state, dict):
        for name, value in state.items():
            yield value, attribute_path(path, str(name))


def _function_children(fn: types.FunctionType, path: str) -> Iterator[Child]:
    code = fn.__code__
    namespace = fn.__globals__
    for name in code_global_names(code):
        if name in namespace:
            yield namespace[name], f"{path}.__globals__[{name!r}]"
    for name, cell in zip(code.co_freevars, fn.__closure__ or (), strict=True):
        try:
            value = cell.cell_contents
        except ValueError:  # a cell not yet assigned
            continue
        yield value, f"{path}.__closure__[{name}]"
    yield from _sequence_children(fn.__defaults__ or (), f"{path}.__defaults__")
    yield from _mapping_children(fn.__kwdefaults__ or {}, f"{path}.__kwdefaults__")
    yield from _instance_dict_children(fn, path)
    yield from _mapping_children(fn.__annotations__, f"{path}.__annotations__")


def _class_children(cls: type, path: str) -> Iterator[Child]:
    for index, base in enumerate(cls.__bases__):
        if base is not object:
            yield base, f"{path}.__bases__[{index}]"
    for name, value in vars(cls).items():
        if name in _SKIPPED_CLASS_ATTRS or isinstance(value, _SLOT_DESCRIPTORS):
            continue
        if isinstance(value, staticmethod):
            yield value.__func__, attribute_path(path, name)
        elif isinstance(value, classmethod):
            yield value.__func__, f"{attribute_path(path, name)}.__func__"
        elif isinstance(value, property):
            for part in ("fget", "fset", "fdel"):
                accessor = getattr(value, part)
                if accessor is not None:
                    yield accessor, f"{attribute_path(path, name)}.{part}"
        elif getattr(cls, name, None) is value:
            yield value, attribute_path(path, name)
        else:  # a descriptor: Cls.name would call its __get__
            yield value, f"vars({path})[{name!r}]"


def _method_children(method: types.MethodType, path: str) -> Iterator[Child]:
    yield method.__self__, f"{path}.__self__"
    yield method.__func__, f"{path}.__func__"


def _builtin_method_children(method: types.BuiltinMethodType, path: str) -> Iterator[Child]:
    owner = method.__self__
    # Builtin functions are bound to their module; methods like lock.acquire to the lock.
    if owner is not None and not isinstance(owner, types.ModuleType):
        yield owner, f"{path}.__self__"


def _module_children(module: types.ModuleType, path: str) -> Iterator[Child]:
    for name, value in vars(module).items():
        if name != "__builtins__":
            yield value, attribute_path(path, name)


def _partial_children(partial: functools.partial[Any], path: str) -> Iterator[Child]:
    yield partial.func, f"{path}.func"
    yield from _sequence_children(partial.args, f"{path}.args")
    yield from _mapping_children(partial.keywords, f"{path}.keywords")
    yield from _instance_dict_children(partial, path)


def _dict_subclass_children(mapping: dict[Any, Any], path: str) -> Iterator[Child]:
    if isinstance(mapping, defaultdict) and mapping.default_factory is not None:
        yield mapping.default_factory, f"{path}.default_factory"
    yield from _mapping_children(mapping, path)
    yield from _instance_dict_children(mapping, path)


def _sequence_subclass_children(sequence: Any, path: str) -> Iterator[Child]:
    fields = getattr(type(sequence), "_fields", None)
    if isinstance(sequence, tuple) and isinstance(fields, tuple) and len(fields) == len(sequence):
        for name, value in zip(fields, sequence, strict=True):
            yield value, attribute_path(path, str(name))
    else:
        yield from _sequence_children(sequence, path)
    yield from _instance_dict_children(sequence, path)


def _has_custom(cls: type, name: str, default: object) -> bool:
    return getattr(cls, name, None) not in (None, default)


def _reduce_children(obj: object, path: str) -> Iterator[Child]:
    """Children of an instance, following the protocol pickle uses for it."""
    cls = type(obj)
    try:
        reduced = obj.__reduce_ex__(PROTOCOL)
    except Exception:  # the object refuses to pickle: it is the culprit
        return
    if not isinstance(reduced, tuple) or len(reduced) < 2:
        return  # a string: pickled as a global reference
    if _has_custom(cls, "__reduce_ex__", object.__reduce_ex__) or _has_custom(
        cls, "__reduce__", object.__reduce__
    ):
        yield from _custom_reduce_children(obj, reduced, path)
        return
    # The default reduction: (copyreg.__newobj__, (cls, *newargs), state, ...).
    # Pickle ships the class first; the instance's own state is listed first so that
    # an object shared by both (a global lock the class's code also names) is
    # reported where the user put it: obj.lock, not obj.__class__.__init__....
    state = reduced[2] if len(reduced) > 2 else None
    if state is not None and _has_custom(cls, "__getstate__", _OBJECT_GETSTATE):
        yield state, f"{path}.__getstate__()"
    elif state is not None:
        dict_state, slot_state = (
            state if isinstance(state, tuple) and len(state) == 2 else (state, None)
        )
        for part in (dict_state, slot_state):
            if isinstance(part, dict):
                for name, value in part.items():
                    yield value, attribute_path(path, str(name))
    args = reduced[1]
    if isinstance(args, tuple) and len(args) > 1:
        yield from _sequence_children(args[1:], f"{path}.__getnewargs__()")
    yield cls, f"{path}.__class__"


def _custom_reduce_children(obj: object, reduced: tuple[Any, ...], path: str) -> Iterator[Child]:
    if _has_custom(type(obj), "__reduce_ex__", object.__reduce_ex__):
        base = f"{path}.__reduce_ex__({PROTOCOL})"
    else:
        base = f"{path}.__reduce__()"
    yield reduced[0], f"{base}[0]"
    if isinstance(reduced[1], tuple):
        yield from _sequence_children(reduced[1], f"{base}[1]")
    state = reduced[2] if len(reduced) > 2 else None
    if state is not None and state is getattr(obj, "__dict__", None):
        yield from _instance_dict_children(obj, path)  # e.g. SimpleNamespace: obj.attr
    elif state is not None:
        yield state, f"{base}[2]"
    if len(reduced) > 3 and reduced[3] is not None:
        yield from _sequence_children(list(reduced[3]), f"list({base}[3])")
    if len(reduced) > 4 and reduced[4] is not None:
        yield from _mapping_children(dict(reduced[4]), f"dict({base}[4])")


_Enumerator = Callable[[Any, str], Iterator[Child]]

# Exact types first: the common cases cost one dictionary lookup.
_BY_EXACT_TYPE: dict[type, _Enumerator] = {
    dict: _mapping_children,
    types.MappingProxyType: _mapping_children,
    list: _sequence_children,
    tuple: _sequence_children,
    set: _set_children,
    frozenset: _set_children,
    types.FunctionType: _function_children,
    types.MethodType: _method_children,
    types.BuiltinMethodType: _builtin_method_children,
    types.ModuleType: _module_children,
    functools.partial: _partial_children,
}


def children(obj: object, path: str) -> list[Child]:
    """Every object pickling ``obj`` pickles next, paired with its access path.

    >>> children({"pool": [1], "size": 2}, "cfg")  # atoms always pickle: not listed
    [([1], "cfg['pool']")]
    """
    enumerate_children = _BY_EXACT_TYPE.get(type(obj))
    try:
        if enumerate_children is not None:
            return list(enumerate_children(obj, path))
        if isinstance(obj, type):
            return list(_class_children(obj, path))
        if isinstance(obj, functools.partial):
            return list(_partial_children(obj, path))
        if isinstance(obj, dict):
            return list(_dict_subclass_children(obj, path))
        if isinstance(obj, (list, tuple, deque)):
            return list(_sequence_subclass_children(obj, path))
        if isinstance(obj, (set, frozenset)):
            return [*_set_children(obj, path), *_instance_dict_children(obj, path)]
        return list(_reduce_children(obj, path))
    except Exception:  # an object that cannot even be taken apart is itself the leaf
        return []


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def default_root_name(obj: object) -> str:
    """The name a report uses for ``obj`` when the caller gives none.

    Functions, classes and modules use their ``__name__``, bound methods their
    function's name, other objects their type's name in snake case.

    >>> import functools
    >>> default_root_name(functools.partial(print)), default_root_name(default_root_name)
    ('partial', 'default_root_name')
    """
    if isinstance(obj, types.MethodType):
        obj = obj.__func__
    if isinstance(obj, (types.FunctionType, type, types.ModuleType)):
        name = str(obj.__name__)
        return "lambda" if name == "<lambda>" else name
    return _CAMEL.sub("_", type(obj).__name__).lower()

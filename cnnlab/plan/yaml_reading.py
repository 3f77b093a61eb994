"""Reading one YAML config file the way cnnlab checks it: a key given twice in one mapping
is an error, and a file whose aliases would expand beyond a sane size (an alias bomb) or
refer to themselves is refused at once, before anything walks the expanded tree.

PyYAML shares an aliased node rather than copying it, so composing and constructing such a
file is quick; what is slow is everything that walks the result as a tree (the schema's
validator, the finiteness check, deepcopy of the merged config): nine levels of ten
aliases are a billion nodes. The expanded size is counted once per node on the composed
graph, in time linear in the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from cnnlab.errors import CnnlabError

# nodes of the expanded tree; the lab's own config has about a thousand
MAX_EXPANDED_NODES = 200_000


def read_yaml(path: str | Path) -> Any:
    """One config file, read with :class:`UniqueKeyLoader`; a missing, unreadable or
    malformed file is one CnnlabError naming it."""
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.load(handle, Loader=UniqueKeyLoader)
    except FileNotFoundError:
        raise CnnlabError(f"{path}: config file not found.") from None
    except UnicodeDecodeError as error:
        raise CnnlabError(f"{path}: not a UTF-8 text file (byte {error.start}); save the "
                          "config as UTF-8 text.") from None
    except OSError as error:
        raise CnnlabError(f"{path}: the config file could not be read: "
                          f"{error.strerror or error}.") from None
    except yaml.YAMLError as error:
        raise CnnlabError(f"{path}: not valid YAML: {' '.join(str(error).split())}") from None


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error:
    PyYAML, and so Snakemake, keeps the last value silently; and a document whose aliases
    expand beyond MAX_EXPANDED_NODES, or into themselves, is refused before it is built."""

    def get_single_data(self):
        node = self.get_single_node()
        if node is None:
            return None
        size = expanded_size(node, {}, set(), self.name)
        if size > MAX_EXPANDED_NODES:
            raise CnnlabError(
                f"{self.name}: its aliases (*name) expand to {size:,} values, more than the "
                f"{MAX_EXPANDED_NODES:,} a config can sensibly hold (an alias bomb?); write "
                "the config without nested aliases.")
        return self.construct_document(node)

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first_line: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # a key of this mapping may override one merged in by <<
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    seen = first_line.get(key)
                except TypeError:  # an unhashable key: SafeLoader's own error follows
                    continue
                if seen is not None:
                    lines = f"line {line}" if seen == line else f"lines {seen} and {line}"
                    raise CnnlabError(
                        f"{self.name}: key {key!r} is given twice in one mapping, at {lines}: "
                        "keep one (YAML would keep the last silently)."
                    )
                first_line[key] = line
        return super().construct_mapping(node, deep=deep)


def expanded_size(node: yaml.Node, sizes: dict[int, int], open_nodes: set[int], name: str) -> int:
    """How many nodes ``node`` stands for once every alias in it is copied out."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:
        raise CnnlabError(f"{name}: an alias refers to a node that contains it (a recursive "
                          "structure); a config is a tree: write the values out.")
    open_nodes.add(key)
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [item for pair in node.value for item in pair]
    else:
        children = []
    sizes[key] = 1 + sum(expanded_size(child, sizes, open_nodes, name) for child in children)
    open_nodes.discard(key)
    return sizes[key]

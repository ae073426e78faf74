"""The commands of `python -m helpers`: argparse wiring only, each module a `configure(parser)`
and a `run(args) -> int` that call the library with typed arguments (as torchvision keeps
`references/` and mmaction2 `tools/` apart from the library)."""

"""The Triton kernels compiled ahead of time for a GPU this machine need not have: PTX, a
cubin, and what the cubin uses (registers, stack, shared memory; from Triton's own cuobjdump)
and how its SASS accesses memory (nvdisasm). The CPU tests hold every variant to no spills and
a register count that fits its programs per SM; the GPU benchmarks record the same figures.

Run it in a process without TRITON_INTERPRET: under the interpreter Triton's own functions are
the interpreter's and cannot be compiled.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from study.train.trainers.triton_kernels import Variant, compile_ahead


def _tool(name: str) -> str:
    """Triton's own copy of a CUDA tool (cuobjdump, nvdisasm)."""
    try:
        from triton import knobs

        return str(getattr(knobs.nvidia, name).path)
    except (ImportError, AttributeError):  # Triton before its knobs module
        import triton

        return str(Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / name)


def resources(compiled: Any) -> dict[str, Any]:
    """Registers, stack and shared bytes of one compiled kernel, and its SASS: instructions,
    global loads (128-bit ones apart), stores and atomic reductions."""
    with tempfile.TemporaryDirectory() as folder:
        cubin = Path(folder) / "kernel.cubin"
        cubin.write_bytes(compiled.asm["cubin"])
        usage = subprocess.run(
            [_tool("cuobjdump"), "--dump-resource-usage", str(cubin)],
            capture_output=True, text=True, check=True, timeout=120,
        ).stdout  # fmt: skip
        sass = subprocess.run(
            [_tool("nvdisasm"), "-c", str(cubin)],
            capture_output=True, text=True, check=True, timeout=120,
        ).stdout  # fmt: skip
    found = re.search(r"REG:(\d+) STACK:(\d+) SHARED:(\d+) LOCAL:(\d+)", usage)
    if found is None:
        raise RuntimeError(f"no resource usage in cuobjdump's output: {usage[:200]!r}")
    registers, stack, shared, local = (int(x) for x in found.groups())
    code = [line for line in sass.splitlines() if re.match(r"\s+/\*[0-9a-f]{4,}\*/", line)]
    return {
        "registers": registers,
        "stack_bytes": stack,  # these kernels have no local arrays or calls: stack = spills
        "local_bytes": local,
        "shared_bytes": shared,
        "num_warps": compiled.metadata.num_warps,
        "sass_instructions": len(code),
        "global_loads": sum(" LDG" in line for line in code),
        "global_loads_128bit": sum(" LDG" in line and ".128" in line for line in code),
        "global_stores": sum(" STG" in line for line in code),
        "atomic_reductions": sum(" RED" in line or " ATOM" in line for line in code),
    }


def report(variant: Variant, arch: int = 90) -> dict[str, Any]:
    """One variant compiled for sm_`arch` at its launch shape: its label and `resources`."""
    compiled = compile_ahead(variant, arch)
    ptx = compiled.asm["ptx"]
    return {
        "variant": variant.label(),
        "arch": f"sm_{arch}",
        "ptx_target": f".target sm_{arch}" in ptx,
        "cubin_bytes": len(compiled.asm["cubin"]),
        "row": variant.row,
        **resources(compiled),
    }


def sweep(variant: Variant, warps: tuple[int, ...] = (1, 2, 4, 8)) -> list[dict[str, Any]]:
    """The variant compiled at each warp count under the hardware register cap."""
    from study.train.trainers.triton_kernels import MAX_REGISTERS, LaunchShape

    found = []
    for count in warps:
        shape = LaunchShape(count, MAX_REGISTERS)
        found.append(resources(compile_ahead(variant, shape=shape)))
    return found


MIN_RESIDENT_WARPS = 8  # per SM: below this the SM has too few warps to hide latency


def best_shape(reports: list[dict[str, Any]]) -> Any:
    """The fewest warps per program that compile without spilling and keep MIN_RESIDENT_WARPS
    warps resident per SM (a wider program adds a cross-warp reduction to every pair), its cap
    the registers rounded up to 8; else the most resident warps."""
    from study.train.trainers.triton_kernels import MAX_REGISTERS, LaunchShape

    shapes = [
        LaunchShape(r["num_warps"], min(MAX_REGISTERS, -(-r["registers"] // 8) * 8))
        for r in reports
        if r["stack_bytes"] == 0 and r["local_bytes"] == 0
    ]
    if not shapes:
        raise ValueError("every warp count spills")
    enough = [s for s in shapes if s.programs_per_sm * s.warps >= MIN_RESIDENT_WARPS]
    if enough:
        return min(enough, key=lambda s: s.warps)
    return max(shapes, key=lambda s: (s.programs_per_sm * s.warps, -s.warps))


def parse_variant(spec: str) -> Variant:
    """`MODEL:DIM:K:WINDOW[:pair]`, e.g. `sg:100:5:5` or `sg:300:10:5:pair`."""
    model, dim, negative, window, *pair = spec.split(":")
    return Variant(model, int(dim), int(negative), int(window), pair == ["pair"])


def main(argv: list[str] | None = None) -> None:
    """`python -m study.train.trainers.triton_aot [--sweep | --warps N] MODEL:DIM:K:WINDOW[:pair]
    ...`: one JSON line per variant compiled for sm_90 at its launch shape (or at N warps under
    the hardware cap); with --sweep, at 1, 2, 4 and 8 warps, then the launch shape `best_shape`
    picks (a TUNED_SHAPES line: its cap is the largest over the windows the key stands for)."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description=(main.__doc__ or "").split(":")[0])
    parser.add_argument("variants", nargs="+", help="MODEL:DIM:K:WINDOW[:pair]")
    parser.add_argument("--sweep", action="store_true", help="every warp count, and the pick")
    parser.add_argument("--arch", type=int, default=90, help="compute capability (default 90)")
    parser.add_argument("--warps", type=int, default=0, help="at this many warps, uncapped")
    args = parser.parse_args(argv)
    from study.train.trainers.triton_kernels import LaunchShape

    for spec in args.variants:
        variant = parse_variant(spec)
        if args.sweep:
            reports = sweep(variant)
            for found in reports:
                print(json.dumps({"variant": variant.label(), **found}), flush=True)
            shape = best_shape(reports)
            key = (variant.model, variant.per_pair, variant.row, variant.constexprs()["KP"])
            print(f"    {key}: LaunchShape({shape.warps}, {shape.registers}),  "
                  f"# {shape.programs_per_sm} programs/SM", flush=True)  # fmt: skip
        elif args.warps:
            found = resources(compile_ahead(variant, args.arch, LaunchShape(args.warps, 255)))
            print(json.dumps({"variant": variant.label(), **found}), flush=True)
        else:
            shape = variant.launch_shape()
            line = {**report(variant, args.arch), "max_registers": shape.registers,
                    "programs_per_sm": shape.programs_per_sm}  # fmt: skip
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()

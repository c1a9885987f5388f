"""Compare the two maintained CEL libraries on compile and evaluate cost.

Run: python bench/cel_libraries.py. Prints microseconds per compile and per evaluation
for `common-expression-language` (Rust core) and `cel-python` (pure Python), on the kind of
conditions scenarios use. The figures chose the library (see docs/architecture.md).
"""

import time

EXPRESSIONS = [
    "age < 18",
    "age >= 18 && country == 'FR'",
    "plan in ['gold', 'silver'] || spend > 1000.0",
]
CONTEXT = {"age": 30, "country": "FR", "plan": "gold", "spend": 10.0}


def _per_call_us(fn, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat * 1e6


def bench_rust(repeat: int) -> tuple[float, float, float]:
    t0 = time.perf_counter()
    import cel

    import_ms = (time.perf_counter() - t0) * 1e3
    programs = [cel.compile(e) for e in EXPRESSIONS]
    compile_us = _per_call_us(lambda: [cel.compile(e) for e in EXPRESSIONS], repeat) / len(EXPRESSIONS)
    eval_us = _per_call_us(lambda: [p.execute(CONTEXT) for p in programs], repeat) / len(EXPRESSIONS)
    return import_ms, compile_us, eval_us


def bench_celpy(repeat: int) -> tuple[float, float, float]:
    t0 = time.perf_counter()
    import celpy
    from celpy.adapter import json_to_cel

    import_ms = (time.perf_counter() - t0) * 1e3
    env = celpy.Environment()
    programs = [env.program(env.compile(e)) for e in EXPRESSIONS]
    activation = {k: json_to_cel(v) for k, v in CONTEXT.items()}
    compile_all = lambda: [env.program(env.compile(e)) for e in EXPRESSIONS]  # noqa: E731
    compile_us = _per_call_us(compile_all, repeat) / len(EXPRESSIONS)
    eval_us = _per_call_us(lambda: [p.evaluate(activation) for p in programs], repeat) / len(EXPRESSIONS)
    return import_ms, compile_us, eval_us


def main() -> None:
    print(f"{'library':32} {'import ms':>10} {'compile us':>11} {'evaluate us':>12}")
    for name, fn, repeat in (
        ("common-expression-language", bench_rust, 2000),
        ("cel-python", bench_celpy, 50),
    ):
        import_ms, compile_us, eval_us = fn(repeat)
        print(f"{name:32} {import_ms:10.1f} {compile_us:11.1f} {eval_us:12.1f}")


if __name__ == "__main__":
    main()

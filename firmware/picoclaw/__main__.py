# python -m picoclaw (see cli.py). Start-up code leaves the heap before the loop runs:
# loaded .mpy code lives in the heap, and the gateway should have that room. So the CLI
# (arguments, config loading, status) is dropped before the gateway is built, and app.py
# (the wiring) drops itself once it has built it.
import sys

from picoclaw import cli, load, unload

job = cli.prepare(sys.argv[1:])
del cli
unload("picoclaw.cli")
if isinstance(job, tuple) and isinstance(job[1], list):  # `agent`, `setup`: (settings or
    job = load(job[2]).main(job[0], job[1])  # the config's path, its arguments, the module)
elif isinstance(job, tuple):  # the gateway: (settings, cycles)
    from picoclaw import app

    cfg, cycles = job
    job = None
    try:
        gw, sim = app.build(cfg)
    except ValueError as e:  # a start-up check (config.check), a config value: one line
        print("error: %s" % e)
        sys.exit(2)
    except MemoryError:  # what the heap check did not foresee: one line, not a traceback
        import gc

        gc.collect()
        print("error: out of memory while starting (heap %d KB): run with a bigger -X heapsize "
              "(echo mode: 64k, agent mode: 128k)"
              % ((gc.mem_free() + gc.mem_alloc()) // 1024))
        sys.exit(2)
    del app, cfg  # the settings too: the gateway copied what it needs
    job = gw.serve(cycles, sim)
if job:
    sys.exit(job)

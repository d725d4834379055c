/**
 * `iommu-lab` command line (main/cli/iommu-lab.js registers tsx and calls `main`).
 *
 *   iommu-lab run <scenario.yaml> [--db F] [--json] [--variant NAME]
 *   iommu-lab runs [--db F] [--limit N] [--json]
 *   iommu-lab show <run> [--db F] [--json]
 *   iommu-lab events <run> [--db F] [--kind K...] [--domain N] [--endpoint E] [--problems]
 *                          [--offset N] [--limit N] [--json]
 *   iommu-lab export <run> --format csv|jsonl|perfetto [-o FILE] [--db F]
 *   iommu-lab rm <run>... [--vacuum] [--db F] [--json]
 *   iommu-lab import <trace> [--format ftrace|kmsg|qemu] [--partial] [--db F] [--json]
 *   iommu-lab replay <trace> --against <scenario.yaml>... [--no-store] [--db F] [--json]
 *   iommu-lab compare <run>... [--db F] [--json | --csv] [--changed] [--cost key=ns,...]
 *   iommu-lab sql "<query>" [--db F] [--csv|--json] [--timeout S] | iommu-lab sql --schema [--json]
 *   iommu-lab serve [--db F] [--port N] [--host 127.0.0.1] [--allow-host H[:P]]
 *   iommu-lab --version | --help
 *
 * Exit codes (common.ts EXIT): 0 success (for `run`: every expectation held); 1 an expectation
 * failed, or the run failed or was cancelled; 2 invalid input (bad flags, a run id that is not a
 * positive integer, a missing run, unreadable file, scenario diagnostics printed as
 * `file:line:column: message` on stderr — nothing is stored); 130 / 143 `run` or `export`
 * stopped by SIGINT (Ctrl-C) / SIGTERM (a run is cancelled, its events so far kept, its report
 * printed). Everything printed for humans is escaped for the terminal (escape.ts).
 *
 * Commands live in run.ts, inspect.ts (runs, show, events), export.ts and rm.ts; the run report
 * shared by `run` and `show` in report.ts.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ContractError } from '../../core/contract/index.ts';
import { EVENT_KINDS } from '../../core/events/catalog.ts';
import { PROBLEM_SUMMARY } from '../../core/events/problems.ts';
import { defaultDbPath } from '../store/paths.ts';
import { LabDatabaseError } from '../store/errors.ts';
import { EXIT, UsageError, collectRunIds, int, kindArg, openService, packageVersion, parseRunId, type CliIO } from './common.ts';
import { escapeLines, escapeTerminal } from './escape.ts';
import { EXPORT_FORMATS, cmdExport } from './export.ts';
import { cmdEvents, cmdRuns, cmdShow } from './inspect.ts';
import { cmdImport } from './import.ts';
import { cmdReplay } from './replay.ts';
import { cmdCompare, costArg } from './compare.ts';
import { cmdRm } from './rm.ts';
import { cmdSql } from './sql.ts';
import { TRACE_FORMATS } from '../../core/import/types.ts';
import { cmdRun } from './run.ts';

export { EXIT, examplesDir, type CliIO } from './common.ts';
export { formatRunReport } from './report.ts';

// ---------------------------------------------------------------------------------------------
// serve (the other commands are in their own files)

async function cmdServe(opts: { db?: string; port?: number; host?: string; allowHost?: string[] }, io: CliIO): Promise<number> {
  const host = opts.host ?? '127.0.0.1';
  if (host !== '127.0.0.1' && host !== 'localhost') {
    throw new UsageError(`serve listens on 127.0.0.1 only (whoever reaches it can start runs and read every stored run); got --host ${host}`);
  }
  // Imported lazily: the other commands work without the server's dependencies loaded.
  const { startServer } = await import('../serve/server.ts');
  const service = openService(opts.db, true);
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer({ service, port: opts.port, allowHosts: opts.allowHost });
  } catch (e) {
    await service.close();
    throw new UsageError(`cannot serve: ${(e as Error).message}`);
  }
  io.stdout.write(`IOMMU Lab serving ${escapeTerminal(service.store.path)}\nopen ${server.url}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  io.stderr.write('stopping…\n');
  await server.close(); // closes the service too
  await service.close();
  return EXIT.OK;
}

/** Examples shown by `iommu-lab --help`. */
const EXAMPLES = `
Examples:
  $ iommu-lab run examples/quickstart.yaml          run a scenario: step table and metrics
  $ iommu-lab runs                                  list stored runs
  $ iommu-lab show 3                                run 3 again: configuration, steps, metrics
  $ iommu-lab events 3 --problems                   run 3's problem events
  $ iommu-lab events 3 --endpoint nic0 --kind map,unmap
  $ iommu-lab export 3 --format csv -o run3.csv     every event of run 3, u64 values in hex
  $ iommu-lab export 3 -o run3.json                 run 3 as a Perfetto trace (ui.perfetto.dev)
  $ iommu-lab rm 1 2 --vacuum                       delete runs 1 and 2, shrink the database file
  $ iommu-lab import trace.txt                      a recorded ftrace / dmesg / QEMU -trace log as a trace
  $ iommu-lab compare 1 2 --changed                 runs side by side: metric deltas, modelled cost, first divergence
  $ iommu-lab serve                                 the UI in a browser, on 127.0.0.1

Run \`iommu-lab <command> --help\` for a command's options. Exit codes: 0 ok, 1 an expectation
or the run failed, 2 invalid input, 130/143 interrupted (SIGINT/SIGTERM).`;

/** Builds the commander program; actions store their exit code in `result.code`. */
function program(io: CliIO, result: { code: number }): Command {
  // Commander echoes arguments in its errors: escape them too.
  const p = new Command('iommu-lab')
    .description('IOMMU Lab: a deterministic workbench for virtual IOMMUs')
    .version(packageVersion(), '-V, --version', 'print the version (package.json)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(escapeLines(s)), writeErr: (s) => io.stderr.write(escapeLines(s)) })
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', EXAMPLES);
  const db = () => new Option('--db <file>', `database file (default: $IOMMU_LAB_DB or ${defaultDbPath()})`);
  const examples = (...lines: string[]) => `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}`;

  p.command('run')
    .description('run a scenario, store its events, print its configuration, step results and metrics (with variants: each variant in turn, then the rows that differ)')
    .argument('<scenario>', 'scenario YAML file')
    .addOption(db())
    .option('--json', 'print one JSON document { runId, status, error, events, failedExpectations, config, metrics, steps } ({ runs: [{ variant, … }], comparison } with variants:)')
    .option('--variant <name>', 'a scenario with variants: run only the variant of this name')
    .addHelpText('after', examples('iommu-lab run examples/quickstart.yaml', 'iommu-lab run my.yaml --json --db /tmp/lab.db', 'iommu-lab run examples/variants-strict-lazy.yaml --variant lazy'))
    .action(async (file: string, o) => {
      result.code = await cmdRun(file, o, io);
    });

  p.command('runs')
    .description('list stored runs, newest first')
    .addOption(db())
    .option('--limit <n>', 'at most n runs', int('--limit', 1))
    .option('--json', 'print the RunSummary list as JSON')
    .addHelpText('after', examples('iommu-lab runs --limit 10'))
    .action(async (o) => {
      result.code = await cmdRuns(o, io);
    });

  p.command('show')
    .description('print a stored run again: its configuration, step table and metrics, as `run` printed them')
    .argument('<run>', 'run id (see `iommu-lab runs`)', parseRunId)
    .addOption(db())
    .option('--json', 'print the stored run (RunDetail: summary, config, scenario text, metrics, step results) as JSON')
    .addHelpText('after', examples('iommu-lab show 3', 'iommu-lab show 3 --json'))
    .action(async (run: number, o) => {
      result.code = await cmdShow(run, o, io);
    });

  p.command('events')
    .description(`print a run's events: seq, step, "!" for problems (${PROBLEM_SUMMARY}), text`)
    .argument('<run>', 'run id (see `iommu-lab runs`)', parseRunId)
    .addOption(db())
    .option('--kind <kinds...>', `only these kinds (${EVENT_KINDS.join(', ')}); repeat or separate with commas`, kindArg)
    .option('--domain <n>', 'only events of this domain', int('--domain'))
    .option('--endpoint <e>', "only events of this endpoint: a device name of the run's scenario, a PCI address bb:dd.f, or an endpoint ID")
    .option('--problems', `only problem events (${PROBLEM_SUMMARY})`)
    .option('--offset <n>', 'skip the first n matching events', int('--offset'))
    .option('--limit <n>', 'print at most n events (default 100)', int('--limit', 1))
    .option('--json', 'print { runId, total, offset, rows } as JSON')
    .addHelpText('after', examples('iommu-lab events 3 --problems', 'iommu-lab events 3 --endpoint nic0 --kind translate,fault', 'iommu-lab events 3 --endpoint 00:03.0 --offset 100 --limit 50'))
    .action(async (run: number, o) => {
      result.code = await cmdEvents(run, o, io);
    });

  p.command('export')
    .description('write every event of a run as CSV, JSON lines or a Perfetto / Chrome JSON trace (streamed; u64 values as "0x…" hex)')
    .argument('<run>', 'run id (see `iommu-lab runs`)', parseRunId)
    .addOption(db())
    .addOption(new Option('--format <format>', 'csv (RFC 4180, a header row, one column per catalog field), jsonl (one { seq, step, kind, fields, text, problem } per line) or perfetto (a Chrome JSON trace, one track per component: open it in ui.perfetto.dev or chrome://tracing); default: from -o\'s extension (.csv, .jsonl, .json)').choices(EXPORT_FORMATS))
    .option('-o, --output <file>', 'write to this file, atomically (a temporary file renamed over it); default: stdout')
    .addHelpText('after', examples('iommu-lab export 3 --format csv -o run3.csv', 'iommu-lab export 3 --format jsonl | jq -c \'select(.problem)\'', 'iommu-lab export 3 --format perfetto -o run3.json'))
    .action(async (run: number, o) => {
      result.code = await cmdExport(run, o, io);
    });

  p.command('rm')
    .description('delete runs and their events (all or nothing; a run still running is refused), and say how much space that freed')
    .argument('<run...>', 'run ids (see `iommu-lab runs`)', collectRunIds)
    .addOption(db())
    .option('--vacuum', 'then VACUUM: rebuild the database file so it shrinks (takes a while on a large database)')
    .option('--json', 'print { runIds, events, pageSize, before, after, vacuumed } as JSON')
    .addHelpText('after', examples('iommu-lab rm 3', 'iommu-lab rm 1 2 5 --vacuum'))
    .action(async (runs: number[], o) => {
      result.code = await cmdRm(runs, o, io);
    });

  p.command('import')
    .description('import a trace recorded on a real system (ftrace text, kernel log, QEMU -trace log) as a browsable trace; every line it did not understand is reported by number; nothing is stored unless the import completes')
    .argument('<trace>', 'trace file (any size; read as a stream)')
    .addOption(db())
    .addOption(new Option('--format <format>', 'the trace format, instead of detecting it').choices(TRACE_FORMATS))
    .option('--partial', 'store the trace even when lines of known events are malformed (they are listed and skipped)')
    .option('--json', 'print { trace, format, lines, events, byKind, unknown: { count, lines }, errors: [{ line, message }], … } as JSON')
    .addHelpText('after', examples('iommu-lab import host-trace.txt', 'iommu-lab import qemu.log --format qemu --json', 'iommu-lab import dmesg.txt --partial'))
    .action(async (file: string, o) => {
      result.code = await cmdImport(file, o, io);
    });

  p.command('replay')
    .description("replay a stored trace (a QEMU log's virtio-iommu requests and accesses, or a Linux ftrace's DMA API calls and faults) against scenarios' configurations: each replay stored as a run, its requests, faults and where it diverges from the trace, then the replays compared")
    .argument('<trace>', 'trace id (see `iommu-lab runs`)', parseRunId)
    .requiredOption('--against <scenarios...>', 'scenario YAML files whose configuration (machine, viommu, devices, host, guest) to replay against; their steps are not run')
    .addOption(db())
    .option('--no-store', 'replay in memory with events off on a worker pool: nothing stored (faster)')
    .option('--json', 'print { trace, steps, byOp, notDerived, assumptions, unattributedFaults, configurations: [{ file, name, run, status, failure, requests, faults, divergenceCount, divergences }] }')
    .addHelpText('after', examples('iommu-lab replay 3 --against qemu-9.0.yaml qemu-9.1.yaml', 'iommu-lab replay 3 --against strict.yaml lazy.yaml --no-store', 'iommu-lab replay 3 --against spec.yaml --json'))
    .action(async (trace: number, o) => {
      result.code = await cmdReplay(trace, o, io);
    });

  p.command('compare')
    .description('stored runs, traces or replays side by side: metrics with deltas against the first (requests, maps, unmaps, invalidations, faults by reason, host calls and failures, peak mappings, modelled cost), then where each first diverges from it')
    .argument('<run...>', '2 to 8 run ids (see `iommu-lab runs`); the first is the base', collectRunIds)
    .addOption(db())
    .option('--json', 'print the comparison as JSON { sides, rows: [{ id, group, label, unit, values, deltas, differs }], divergences, costModel }')
    .option('--csv', 'print the table as CSV (a row per metric, a column per run and per delta)')
    .option('--changed', 'only the rows whose values differ')
    .option('--cost <key=ns,...>', 'override the cost model (vmExitNs, requestNs, hostMapNs, hostMapPageNs, hostUnmapNs, invalidationNs, faultNs; docs/cost-model.md)', costArg)
    .addHelpText('after', examples('iommu-lab compare 1 2', 'iommu-lab compare 1 2 3 --changed', 'iommu-lab compare 1 2 --cost vmExitNs=1000,hostMapNs=5000 --csv > cmp.csv'))
    .action(async (runs: number[], o) => {
      result.code = await cmdCompare(runs, o, io);
    });

  p.command('sql')
    .description('query the lab database with SQL, read-only, through documented views (v_runs, v_events, v_faults, v_host_calls, …; docs/sql.md)')
    .argument('[query]', 'one SQL statement that reads (SELECT, WITH, VALUES, EXPLAIN, PRAGMA reads)')
    .addOption(db())
    .option('--csv', 'every row as CSV (RFC 4180, a header row; NULL as an empty field), streamed')
    .option('--json', 'every row as one JSON document { columns: [{ name, type }], rows, elapsedMs }, streamed (with --schema: the schema as JSON)')
    .option('--timeout <seconds>', 'stop the query after this many seconds (default 10, at most 300)')
    .option('--schema', 'print the documented tables and views with their columns')
    .addHelpText('after', examples('iommu-lab sql "SELECT id, name, kind, model, aw_bits FROM v_runs"', 'iommu-lab sql "SELECT run_id, reason_name, count(*) FROM v_faults GROUP BY 1, 2" --csv', 'iommu-lab sql --schema'))
    .action(async (query: string | undefined, o) => {
      result.code = await cmdSql(query, o, io);
    });

  p.command('serve')
    .description('serve the UI and the lab contract over HTTP/WebSocket on 127.0.0.1')
    .addOption(db())
    .option('--port <n>', 'TCP port (default: any free port)', int('--port'))
    .option('--host <host>', 'interface (127.0.0.1 only)', '127.0.0.1')
    .option('--allow-host <host[:port]>', 'also accept this Host/Origin, e.g. localhost:9000 behind `ssh -L 9000:127.0.0.1:PORT` (repeatable)', (v: string, all: string[] = []) => [...all, v])
    .addHelpText('after', examples('iommu-lab serve --port 8123', 'iommu-lab serve --port 8123 --allow-host localhost:9000   # behind ssh -L 9000:127.0.0.1:8123'))
    .action(async (o) => {
      result.code = await cmdServe(o, io);
    });
  return p;
}

/**
 * Runs the CLI with `argv` (as process.argv: node, script, args…) and returns the exit code.
 * Never throws for user errors: they are printed on io.stderr with exit code 2.
 */
export async function main(argv: string[] = process.argv, io: CliIO = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const result = { code: EXIT.OK as number };
  const p = program(io, result);
  try {
    if (argv.length <= 2) {
      p.outputHelp({ error: true });
      return EXIT.INVALID;
    }
    await p.parseAsync(argv);
    return result.code;
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? EXIT.OK : EXIT.INVALID;
    }
    if (e instanceof UsageError || e instanceof InvalidArgumentError || e instanceof ContractError) {
      io.stderr.write(`iommu-lab: ${escapeTerminal(e.message)}\n`);
      return EXIT.INVALID;
    }
    if (e instanceof LabDatabaseError) {
      // One line naming the file and what to do (main/store/errors.ts).
      io.stderr.write(`iommu-lab: ${escapeTerminal(e.message)}\n`);
      return EXIT.INVALID;
    }
    if ((e as { code?: string }).code === 'SQLITE_CANTOPEN' || (e as Error).name === 'SchemaTooNewError') {
      io.stderr.write(`iommu-lab: cannot open the database: ${escapeTerminal((e as Error).message)}\n`);
      return EXIT.INVALID;
    }
    throw e;
  }
}

/**
 * The SQL console behind the contract (issue 9 §3): sqlQuery, sqlCancel and sqlSchema, answered by
 * the SQL host (main/worker/sql-host.ts), whose worker holds the console's read-only connection
 * with the documented views (main/store/sql-console.ts, sql-views.ts; docs/sql.md). One instance
 * per LabService; it starts no thread until the first query.
 */
import type { Params, Results } from '../../core/contract/index.ts';
import { SqlHost, nodeSqlSpawner, type SqlSpawner } from '../worker/sql-host.ts';
import type { SqlReply } from '../worker/sql-protocol.ts';

/** The part of Electron's `utilityProcess` the SQL console uses (main/index.ts passes the real one; main/ imports no electron). */
export interface UtilityProcessLike {
  fork(modulePath: string, args?: string[], options?: { execArgv?: string[]; serviceName?: string; stdio?: 'ignore' | 'inherit' | 'pipe' }): {
    readonly pid?: number;
    postMessage(m: unknown): void;
    on(event: 'message', h: (m: unknown) => void): unknown;
    on(event: 'exit', h: (code: number) => void): unknown;
    kill(): boolean;
  };
}

/**
 * The SqlSpawner of the Electron app: its RunAsNode fuse is off (main/electron-fuses.ts), so
 * child_process.fork cannot run Node there; a utility process can (it stays alive with the app).
 * `utilityProcess` is read when the first query starts the worker, not before.
 */
export function electronSqlSpawner(utilityProcess: () => UtilityProcessLike): SqlSpawner {
  return (file, execArgv) => {
    const child = utilityProcess().fork(file, [], { execArgv, serviceName: 'IOMMU Lab SQL console', stdio: 'ignore' });
    return {
      pid: child.pid,
      send: (m) => child.postMessage(m),
      onMessage: (h) => child.on('message', (m) => h(m as SqlReply)),
      onExit: (h) => child.on('exit', (code) => h(`exit code ${code}`)),
      ref: () => {},
      kill: () => void child.kill(),
    };
  };
}

/** The SQL console's calls for one lab database. */
export class SqlConsoleService {
  readonly host: SqlHost;

  /** `dbPath`: the lab database the service uses (the worker opens it read-only); `spawn`: how to start the worker process. */
  constructor(dbPath: string, spawn: SqlSpawner = nodeSqlSpawner) {
    this.host = new SqlHost(dbPath, spawn);
  }

  /** sqlQuery: rows or a SQL problem as data (Results['sqlQuery'].error); see SqlHost.query. */
  query(p: Params<'sqlQuery'>): Promise<Results['sqlQuery']> {
    return this.host.query(p);
  }

  /** sqlCancel: stops the running query and drops the waiting ones. */
  cancel(): Results['sqlCancel'] {
    return this.host.cancel();
  }

  /** sqlSchema: the documented tables and views. Errors: rejects for an unusable database. */
  schema(): Promise<Results['sqlSchema']> {
    return this.host.schema();
  }

  /** Stops the worker (a query still running answers CLOSED). */
  close(): Promise<void> {
    return this.host.close();
  }
}

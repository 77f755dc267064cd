/**
 * harbor's HTTP API. POST /jobs enqueues, POST /lease hands a job to a worker, POST /ack/:id and
 * POST /fail/:id end a lease, GET /stats reports queue sizes and latencies. JSON in, JSON out.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { loadConfig, type HarborConfig } from './config';
import { Histogram, formatPercentiles } from './metrics';
import { JobQueue } from './queue';
import { JobStore } from './store';

const latency = new Histogram();

/** Reads a request body as JSON; an empty body is `{}`. Rejects bodies over 1 MB. */
async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 1 << 20) throw new HttpError(413, 'body too large');
  }
  if (!body) return {};
  try {
    return JSON.parse(body);
  } catch {
    throw new HttpError(400, 'body is not JSON');
  }
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

/** Routes one request to the queue. */
async function handle(queue: JobQueue, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method === 'POST' && url.pathname === '/jobs') {
    const { kind, payload } = await readJson(req);
    if (typeof kind !== 'string') throw new HttpError(400, 'kind must be a string');
    return send(res, 201, queue.enqueue(kind, payload));
  }
  if (req.method === 'POST' && url.pathname === '/lease') {
    const { kinds } = await readJson(req);
    if (!Array.isArray(kinds)) throw new HttpError(400, 'kinds must be an array');
    const job = queue.lease(kinds.map(String));
    return job ? send(res, 200, job) : send(res, 204, null);
  }
  const ack = /^\/(ack|fail)\/([\w-]+)$/.exec(url.pathname);
  if (req.method === 'POST' && ack) {
    if (ack[1] === 'ack') return send(res, queue.ack(ack[2]!) ? 200 : 409, { id: ack[2] });
    const { error } = await readJson(req);
    queue.fail(ack[2]!, String(error ?? 'unknown error'));
    return send(res, 200, { id: ack[2] });
  }
  if (req.method === 'GET' && url.pathname === '/stats') {
    return send(res, 200, { ...queue.stats(), latency: formatPercentiles(latency) });
  }
  throw new HttpError(404, `no route for ${req.method} ${url.pathname}`);
}

/**
 * Starts the HTTP server on the configured port and a timer that reclaims expired leases every second.
 * Returns the server so tests can close it.
 */
export function startServer(config: HarborConfig = loadConfig()): Server {
  const queue = new JobQueue(new JobStore(config.dataDir), config);
  const timer = setInterval(() => queue.reclaimExpired(), 1000);
  const server = createServer((req, res) => {
    const started = performance.now();
    handle(queue, req, res)
      .catch((err: unknown) => {
        const status = err instanceof HttpError ? err.status : 500;
        send(res, status, { error: err instanceof Error ? err.message : String(err) });
      })
      .finally(() => latency.record(performance.now() - started));
  });
  server.on('close', () => clearInterval(timer));
  server.listen(config.port);
  return server;
}

if (require.main === module) startServer();

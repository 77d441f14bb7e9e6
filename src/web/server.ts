// A static file server for the browser page (dist-web/, built by `npm run build:web`): GET and
// HEAD only, on 127.0.0.1 only, files under the root only, with the MIME types browsers insist
// on for ES modules (text/javascript) and streamed WebAssembly (application/wasm). Node only.
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The page cannot be served (no build, port taken, ...); the message says what to do. */
export class ServeError extends Error {
  override name = 'ServeError';
}

/** dist-web/ at the repository (or package) root. */
export const WEB_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist-web');

export const MIME_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.safetensors': 'application/octet-stream',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.txt': 'text/plain; charset=utf-8',
};

export interface WebServer {
  /** e.g. http://127.0.0.1:8080/ */
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

export interface WebServerOptions {
  /** Folder to serve (default dist-web/). */
  root?: string;
  /** Port (default 8080; 0 picks a free one). */
  port?: number;
}

/** Starts serving `root` on 127.0.0.1; resolves once it listens. */
export async function startWebServer(o: WebServerOptions = {}): Promise<WebServer> {
  const root = resolve(o.root ?? WEB_ROOT);
  const port = o.port ?? 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ServeError(`the port must be an integer 0-65535, got ${port}`);
  if (!existsSync(join(root, 'index.html'))) {
    throw new ServeError(`${root} holds no built page (no index.html); run npm run build:web first`);
  }
  const server = createServer((req, res) => {
    const send = (status: number, text: string): void => {
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
      res.end(req.method === 'HEAD' ? undefined : text);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      send(405, 'only GET and HEAD\n');
      return;
    }
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    } catch {
      send(400, 'bad path\n');
      return;
    }
    let file = resolve(root, `.${path}`);
    if (file !== root && !file.startsWith(root + sep)) {
      send(404, 'not found\n');
      return;
    }
    try {
      if (statSync(file).isDirectory()) file = join(file, 'index.html');
      const st = statSync(file);
      if (!st.isFile()) throw new Error('not a file');
      res.writeHead(200, {
        'Content-Type': MIME_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
        'Content-Length': st.size,
        'Cache-Control': 'no-cache',
        'X-Content-Type-Options': 'nosniff',
      });
      if (req.method === 'HEAD') res.end();
      else createReadStream(file).on('error', () => res.destroy()).pipe(res);
    } catch {
      send(404, 'not found\n');
    }
  });
  await new Promise<void>((done, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE') fail(new ServeError(`port ${port} on 127.0.0.1 is taken (another xrd serve?); pick another with --port N`));
      else if (e.code === 'EACCES') fail(new ServeError(`port ${port} needs privileges; pick one above 1023 with --port N`));
      else fail(new ServeError(`cannot listen on 127.0.0.1:${port}: ${e.message}`));
    });
    server.listen(port, '127.0.0.1', () => done());
  });
  const actual = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${actual}/`,
    port: actual,
    server,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

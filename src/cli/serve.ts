// `xrd serve [--port N]`: serves the browser page (dist-web/) on 127.0.0.1 until Ctrl-C. Thin over
// web/server.ts.
import { UsageError } from './args.ts';
import type { CliIO, Command } from './command.ts';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'serve the browser page (classify and simulate on your GPU through WebGPU)',
  usage: 'xrd serve [--port N]',
  description: [
    'Serves dist-web/ (built by `npm run build:web`) on 127.0.0.1 only and prints its address. The',
    'page runs the models and the simulator in the browser, on its WebGPU adapter: files dropped on',
    'it are read there and never sent anywhere. Ctrl-C stops the server.',
  ].join('\n'),
  flags: [{ name: 'port', type: 'int', value: 'N', description: 'port to listen on (0: any free one)', default: 8080 }],
  examples: ['npm run build:web && xrd serve', 'xrd serve --port 9000'],
  async run(args, io: CliIO) {
    if (args.positionals.length > 0) throw new UsageError(`xrd serve takes no files (got ${args.positionals.join(' ')}); drop them on the page instead`);
    const { startWebServer } = await import('../web/server.ts');
    const server = await startWebServer({ port: args.flags.port as number });
    io.stdout.write(`serving the page at ${server.url} (Ctrl-C stops it)\n`);
    const signal = await new Promise<string>((done) => {
      const handlers = { SIGINT: () => stop('SIGINT'), SIGTERM: () => stop('SIGTERM') };
      const stop = (s: string): void => {
        for (const [sig, h] of Object.entries(handlers)) process.off(sig, h);
        done(s);
      };
      for (const [sig, h] of Object.entries(handlers)) process.on(sig, h);
    });
    await server.close();
    io.stderr.write(`xrd serve: stopped (${signal})\n`);
    return 130;
  },
};

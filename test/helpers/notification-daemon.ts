/**
 * A desktop notification server for browser tests: a private D-Bus session bus (dbus-daemon) with
 * an `org.freedesktop.Notifications` service on it, the interface Linux desktops implement.
 *
 * Chromium on Linux, headless included, shows a web notification through that service when the
 * session bus has one, and turns its `ActionInvoked(id, "default")` signal into a click: the
 * service worker then gets a real `notificationclick`, trusted, with the right to open or focus a
 * window. So `click(id)` here is a user's click as far as the browser can tell. Launch the browser
 * with DBUS_SESSION_BUS_ADDRESS set to `address` after `start()`: Chromium looks for the service
 * when it starts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What Chromium handed the desktop for one notification. */
export interface DesktopNotification {
  id: number;
  summary: string;
  body: string;
  actions: string[];
}

/** The few calls of @homebridge/dbus-native used here (its bundled types do not declare them). */
interface Bus {
  requestName(name: string, flags: number, callback: (err: unknown, code: number) => void): void;
  exportInterface(object: object, path: string, description: object): void;
  connection: { end(): void; on(event: 'error', listener: (err: Error) => void): void };
}
const dbus = createRequire(import.meta.url)('@homebridge/dbus-native') as { sessionBus(options: { busAddress: string }): Bus };

const NAME = 'org.freedesktop.Notifications';
const PATH = '/org/freedesktop/Notifications';
/** DBUS_NAME_FLAG_DO_NOT_QUEUE: fail rather than wait if the name were taken (it cannot be, on a private bus). */
const DO_NOT_QUEUE = 0x4;
const PRIMARY_OWNER = 1;

/**
 * A session bus that listens in its own folder and starts no services of the machine's (the
 * standard session configuration would start, for instance, the accessibility bus Chromium asks for).
 */
function busConfig(dir: string): string {
  return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=${dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`;
}

export class NotificationDaemon {
  /** Every notification shown, in order. */
  readonly shown: DesktopNotification[] = [];
  /** Ids of the notifications the browser closed. */
  readonly closed: number[] = [];
  private readonly service = new EventEmitter();
  private nextId = 1;

  private constructor(
    private readonly dir: string,
    private readonly daemon: ChildProcess,
    private readonly bus: Bus,
    /** The bus address, for the browser's DBUS_SESSION_BUS_ADDRESS. */
    readonly address: string,
  ) {}

  static async start(): Promise<NotificationDaemon> {
    const dir = mkdtempSync(join(tmpdir(), 'herald-dbus-'));
    writeFileSync(join(dir, 'bus.conf'), busConfig(dir));
    // Its stderr only ever says it may not raise its file limit, as a non-system bus.
    const daemon = spawn('dbus-daemon', [`--config-file=${join(dir, 'bus.conf')}`, '--nofork', '--print-address'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const failed = once(daemon, 'error').then(([err]) => {
      throw new Error(`cannot start dbus-daemon (${(err as Error).message}); install it (Debian: apt-get install dbus-daemon)`);
    });
    const printed = new Promise<string>((resolve) => {
      let text = '';
      daemon.stdout!.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
        if (text.includes('\n')) resolve(text.trim());
      });
    });
    const address = await Promise.race([printed, failed]);
    const bus = dbus.sessionBus({ busAddress: address });
    bus.connection.on('error', () => {});
    const code = await new Promise<number>((resolve, reject) => bus.requestName(NAME, DO_NOT_QUEUE, (err, result) => (err ? reject(err) : resolve(result))));
    if (code !== PRIMARY_OWNER) throw new Error(`could not own ${NAME} on the private bus (answer ${code})`);
    const self = new NotificationDaemon(dir, daemon, bus, address);
    self.export();
    return self;
  }

  /** Resolves with the first notification shown (now or later) that `match` accepts. */
  async waitFor(match: (notification: DesktopNotification) => boolean, timeoutMs = 15_000): Promise<DesktopNotification> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.shown.find(match);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no such notification within ${timeoutMs} ms; shown: ${JSON.stringify(this.shown)}`);
      await Promise.race([once(this.service, 'shown'), new Promise((resolve) => setTimeout(resolve, left))]);
    }
  }

  /** Clicks a notification, as a user does on the desktop. */
  click(id: number): void {
    this.service.emit('ActionInvoked', id, 'default');
  }

  async close(): Promise<void> {
    this.bus.connection.end();
    if (this.daemon.exitCode === null && this.daemon.signalCode === null) {
      const exited = once(this.daemon, 'exit');
      this.daemon.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** The service's methods, as the Desktop Notifications Specification (1.2) names them. */
  private export(): void {
    const methods = {
      GetCapabilities: () => ['body', 'actions', 'icon-static', 'persistence'],
      GetServerInformation: () => ['herald-test', 'herald', '1', '1.2'],
      Notify: (_app: string, replaces: number, _icon: string, summary: string, body: string, actions: string[]) => {
        const id = replaces > 0 ? replaces : this.nextId++;
        this.shown.push({ id, summary, body, actions });
        this.service.emit('shown');
        return id;
      },
      CloseNotification: (id: number) => {
        this.closed.push(id);
      },
    };
    // The library sends a signal when the exported object emits an event of its name.
    Object.assign(this.service, methods);
    this.bus.exportInterface(this.service, PATH, {
      name: NAME,
      methods: { GetCapabilities: ['', 'as'], GetServerInformation: ['', 'ssss'], Notify: ['susssasa{sv}i', 'u'], CloseNotification: ['u', ''] },
      signals: { ActionInvoked: ['us'], NotificationClosed: ['uu'] },
    });
  }
}

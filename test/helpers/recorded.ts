/** Every command a client sends, as Redis receives it: "name arg ...", for tests that count what a route asks of Redis. */
import type Redis from "ioredis";

/** Records each command `client` sends from now on into the returned list (clear it with `length = 0`). */
export function recorded(client: Redis): string[] {
  const sent: string[] = [];
  const send = client.sendCommand.bind(client);
  client.sendCommand = ((command, stream) => {
    sent.push([command.name, ...command.args.map(String)].join(" "));
    return send(command, stream);
  }) as typeof client.sendCommand;
  return sent;
}

// Uses an async host capability: host.kv.get returns a Promise on the host side, so this
// async export awaits it and the host's proxy returns a Promise.
export const meta = { name: 'greeter', version: '1.0.0', apiVersion: 1, description: 'greets users found in the host kv store' };

export async function greet(userId) {
  const user = await host.kv.get(`user:${userId}`);
  if (user === undefined) return `Hello, stranger #${userId}`;
  console.info(`greeting ${user.name}`);
  const greeting = host.config?.greeting ?? 'Hello';
  return `${greeting}, ${user.name}!`;
}

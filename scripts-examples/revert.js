// The classic plugin demo: reverse a string, counting calls in module state.
export const meta = { name: 'revert', version: '1.0.0', apiVersion: 1, description: 'Reverses strings' };

let calls = 0;

export function revert(s) {
  calls++;
  return Array.from(String(s)).reverse().join('');
}

export function count() {
  return calls;
}

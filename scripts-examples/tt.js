// htmlize hook plugin: declares the `role:tt` hook and renders :tt:`text` roles as <tt>text</tt>.
export const meta = { name: 'tt', version: '1.0.0', apiVersion: 1, description: 'htmlize role:tt hook' };

export function hooks() {
  return ['role:tt'];
}

export function run(hook, text) {
  if (hook !== 'role:tt') throw new Error(`tt does not handle hook ${hook}`);
  return `<tt>${text.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</tt>`;
}

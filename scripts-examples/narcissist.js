// htmlize hook plugin: declares the `contents` hook and rewrites a whole post
// (after eliben's go-plugin htmlize "narcissist" example): every standalone "I" is emphasised.
export const meta = { name: 'narcissist', version: '1.0.0', apiVersion: 1, description: 'htmlize contents hook' };

export function hooks() {
  return ['contents'];
}

export function run(hook, text) {
  if (hook !== 'contents') throw new Error(`narcissist does not handle hook ${hook}`);
  return text.replace(/\bI\b/g, '<b>I</b>');
}

// apache-md5 ships no types: md5(password, salt?) returns an `$apr1$` (or `$1$`) hash; given a hash as salt, the same hash when the password matches.
declare module 'apache-md5' {
  function md5(password: string, salt?: string): string;
  export default md5;
}

// apache-md5's own typings say `export default` for a CommonJS `module.exports = fn`, which NodeNext then types as not callable: declare what it is.
declare module 'apache-md5' {
  function md5(password: string, salt?: string): string;
  export default md5;
}

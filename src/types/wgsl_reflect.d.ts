// The package's CommonJS "main" does not load under Node ESM; we import its ES module build.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}

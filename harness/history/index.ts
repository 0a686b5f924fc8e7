export * from './schema.ts';
export * from './io.ts';
export * from './derive.ts';

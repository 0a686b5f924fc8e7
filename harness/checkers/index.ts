export * from './checkers.ts';

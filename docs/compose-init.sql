CREATE DATABASE opsloop_mlflow OWNER opsloop;

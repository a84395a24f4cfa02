from flowrl_jax.train.cli import main

main()

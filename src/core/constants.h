/* constants.h -- physical constants (CODATA 2018, exact SI values). */
#ifndef NIMC_CONSTANTS_H
#define NIMC_CONSTANTS_H

#define NIMC_F 96485.33212        /* Faraday constant, C/mol */
#define NIMC_R 8.314462618        /* gas constant, J/(mol K) */
#define NIMC_TREF_K 298.15        /* reference temperature of parameters */
#define NIMC_PI 3.14159265358979323846

#endif
